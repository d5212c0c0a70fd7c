"""End-to-end tests: convert fixtures and run the result in the real TensorFlow.js."""
