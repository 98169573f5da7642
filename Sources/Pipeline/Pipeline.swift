// Pipeline: segments -> denoise -> separate -> mel -> mirror and publish.
