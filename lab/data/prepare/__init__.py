"""`lab prepare`: FaceForensics++, Celeb-DF, DFDC and seed-layout trees -> face-cropped, split, labelled frame folders."""
