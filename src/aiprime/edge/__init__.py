"""Edge bundles: the champion gate and experts with an int8 encoder, served without torch."""
