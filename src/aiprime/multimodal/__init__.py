"""Images and speech as inputs: the image and speech towers, their shared preprocessing, cross-modal links."""
