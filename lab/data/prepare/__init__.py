"""`lab prepare`: FaceForensics++, Celeb-DF, DFDC (and its preview) and seed-layout trees -> face-cropped, split, labelled frame folders."""
