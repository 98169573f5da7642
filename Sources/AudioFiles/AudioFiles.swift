// AudioFiles: audio files read and written through libsndfile, as float32 [frames, channels].
