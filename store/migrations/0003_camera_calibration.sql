-- Camera calibration for the video analyser: a ground-plane homography from image↔ground
-- point pairs, or a person's height in pixels at two image rows (see video/calibration.py).
ALTER TABLE devices ADD COLUMN calibration jsonb;
