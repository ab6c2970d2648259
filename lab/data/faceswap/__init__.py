"""Classical face swaps on real talking heads: landmarks per frame, a warped source face, a mask, colour correction
and blending, written as a face-swap dataset (`lab synth --faceswap`) or as a family of the real-footage set."""
