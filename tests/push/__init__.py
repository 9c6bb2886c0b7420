"""Tests of the push/ library against the local peers."""
