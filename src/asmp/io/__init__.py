"""Reading and writing what the pipeline touches: video, audio, HDF5 files and shards."""
