// TensorFormats: PyTorch `.pt` (zip + pickle, as torch.save writes), safetensors and `.npy`
// readers and writers for float32 tensors. The same encoders make the MQTT payloads.
