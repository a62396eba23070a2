"""Pieces the feature routers share: FSM data, incoming files, the job tracker, albums and texts."""
