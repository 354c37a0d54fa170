-- People and places by name (issue 16): every named thing may carry a romanised form
-- beside its Chinese name ("陈欣" / "Chen Xin", "鹤鸣广场" / "Heming Square"), shown
-- together in the dashboard and the worker app. Optional: NULL where there is none.
ALTER TABLE people  ADD COLUMN name_latin text CHECK (length(name_latin) <= 200);
ALTER TABLE regions ADD COLUMN name_latin text CHECK (length(name_latin) <= 200);
ALTER TABLE grids   ADD COLUMN name_latin text CHECK (length(name_latin) <= 200);
ALTER TABLE places  ADD COLUMN name_latin text CHECK (length(name_latin) <= 200);
ALTER TABLE zones   ADD COLUMN name_latin text CHECK (length(name_latin) <= 200);
