"""The speech sense's adapters: audio in (files, microphones), the voice-activity segmenter,
the recogniser (faster-whisper), its text guard, the acoustic check of near misses, speaker
attribution on one microphone and the audio clips kept as evidence."""
