"""The supervision service: incidents in from pipelines, review by people, reports out.

It never loads a speech or vision model: nothing here imports etiquette.speech.recogniser,
faster_whisper or the presence detectors.
"""
