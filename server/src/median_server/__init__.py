"""The running-median gRPC service: sessions of numbers whose exact median is read in O(1)."""
