"""The grid model and grid tasks (网格化管理): who owns which place, and the five-step loop.

Shared by the stages that act on tasks: the dispatcher turns firing alerts into tasks,
the API lets people move them through the loop. All rules about which transition is
allowed, and for whom, live in :mod:`grid.tasks`.
"""
