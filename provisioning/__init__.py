"""Gateway enrollment and credentials, broker configuration, Raspberry Pi setup.

May import ``wardlink``, ``hub`` and ``edge`` configuration models; never ``hardware``.
"""
