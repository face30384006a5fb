"""Readers and writers for VOC 2012, ImageNet folders and MIT Object Discovery."""
