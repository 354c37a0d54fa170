"""Video analysis: camera streams → per-zone crowd counts and densities over MQTT.

The analyser is one more camera to ``ingest/``: it publishes contract v1 density reports
and device status like any third-party device. It counts people and never identifies
them: no faces, no re-identification, no tracks, no stored frames.

Modules, each owning one concern:

- ``model``: in-process value types (zones, detections, estimates, health states).
- ``calibration``: ground-plane geometry (``devices.calibration`` JSON, homography,
  person size and ground scale at every pixel, estimation from detections).
- ``zones``: zone masks, walkable areas and membership in image coordinates.
- ``detect``: HOG person detection in perspective bands; ``regress``: foreground,
  edge and texture features mapped to counts and self-calibrated; ``dnn``: ONNX models
  through ``cv2.dnn``; ``counting``: the ``Counter`` protocol and the automatic choice.
- ``health``: stream lost, frozen frame, covered lens, scene change.
- ``sources``: frame sources (OpenCV grab-skipping, PyAV keyframe-only) and pacing.
- ``flow``: optical-flow speed and direction spread, line crossings from counts;
  ``heatmap``: occupancy heatmaps from counts, 5-minute windows stored in
  ``video_heatmaps`` and their PNG rendering (``heatmap_png``);
  ``privacy``: downscaled, blurred snapshots.
- ``analyzer``: one camera's pipeline; ``publish``: contract messages;
  ``service``: ``sharpeyes serve video``; ``cli``: ``sharpeyes video ...``;
  ``bench_speed`` / ``bench_accuracy``: measurements; ``figures``: the pictures of
  docs/video.md (blurred, downscaled frames; counts drawn as points).

Errors (``video.errors``)::

    VideoError
    ├── SourceError       a stream cannot be opened or read
    ├── CalibrationError  calibration data is inconsistent or degenerate
    └── ModelError        an ONNX model cannot be loaded or gives unusable output
"""
