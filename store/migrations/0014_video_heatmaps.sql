-- Occupancy heatmaps of the video analyser (issue 5, 人流热力图): per camera and 5-minute
-- window, a coarse grid (e.g. 32 x 18 cells over the image) of person-samples summed from
-- counts (detections' feet, or each zone's count spread over the zone); never pixels.
-- `cells` is row-major, rows x cols; the mean occupancy of a cell is cells / samples.
-- `zones` keeps the zone outlines in grid units for a neutral outline under the colours.
-- Released migrations are never edited; add a new file instead.

CREATE TABLE video_heatmaps (
    camera_id    text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    window_s     integer NOT NULL CHECK (window_s > 0),
    cols         smallint NOT NULL CHECK (cols > 0),
    rows         smallint NOT NULL CHECK (rows > 0),
    samples      integer NOT NULL CHECK (samples >= 0),
    cells        real[] NOT NULL CHECK (cardinality(cells) = rows * cols),
    zones        jsonb NOT NULL DEFAULT '[]',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, window_start)
);

CREATE INDEX video_heatmaps_window ON video_heatmaps (window_start);
