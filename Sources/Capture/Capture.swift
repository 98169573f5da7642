// Capture: multi-microphone capture through ALSA, cut into gapless segments.
