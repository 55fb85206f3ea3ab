from a2d.models.builder import ARCHS, Agent, ArchError, build, get_spec  # noqa: F401
from a2d.models.cost import count_macs, count_params  # noqa: F401
