"""Kinematics stage: OpenSim models, marker sets, automatic scaling and inverse kinematics."""
