"""The vision sense's adapters: cameras and video files in, frame sampling, the face detector
(onnxruntime) and the watcher that feeds the core's presence tracker."""
