-- The hotspot list ranks zone_current by density (issue 6): with this index the top of
-- the list is read in order and stops after a page, instead of sorting every zone.
-- Released migrations are never edited; add a new file instead.
CREATE INDEX zone_current_density_idx ON zone_current (density DESC, zone_id);
