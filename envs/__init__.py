"""Environments by name: `make("four_rooms", slip_probability=0.0)` returns the raw env.

Wrap it with `wrap_for_training` for rollouts. Configs refer to environments by these names,
or to an environment of your own by its import path, `"my_package.my_module:MyTask"` (a
frozen dataclass subclassing `Environment`): the path is what config.json records, so every
tool that reads a run (evaluate, pictures, render, ...) finds the class again by importing it.
The Brax tasks (`twowalk`, `ant_maze_small`, `ant_obstacle_course_open` in `envs.ant`;
`ant_maze`, `ant_obstacle_course` in `envs.ant_arenas`; `walk_crawl`,
`walk_crawl_course` in `envs.humanoid_original`; `walk_crawl_forward`,
`walk_crawl_course_section` in `envs.humanoid`) import Brax only when their physics is first
used, so importing this package stays fast.
"""

import dataclasses
import importlib
from typing import Any

from envs.base import (
    AutoReset,
    Box,
    Discrete,
    Environment,
    EpisodeStats,
    EpisodeStatsState,
    wrap_for_training,
)
from envs.ant import AntMaze, AntObstacleCourse, TwoWalk
from envs.ant_arenas import AntMazes, AntWalledCourse
from envs.four_rooms import FourRooms
from envs.humanoid import WalkCrawlCourseSection, WalkCrawlForward
from envs.humanoid_original import WalkCrawl, WalkCrawlCourse
from envs.key_door import KeyDoor
from envs.moving_bandits import MovingBandits

__all__ = [
    "AntMaze",
    "AntMazes",
    "AntObstacleCourse",
    "AntWalledCourse",
    "AutoReset",
    "Box",
    "Discrete",
    "Environment",
    "EpisodeStats",
    "EpisodeStatsState",
    "FourRooms",
    "KeyDoor",
    "MovingBandits",
    "TwoWalk",
    "UnknownEnvironmentError",
    "WalkCrawl",
    "WalkCrawlCourse",
    "WalkCrawlCourseSection",
    "WalkCrawlForward",
    "make",
    "names",
    "options",
    "wrap_for_training",
]

_REGISTRY: dict[str, type[Environment[Any, Any]]] = {
    "ant_maze": AntMazes,
    "ant_maze_small": AntMaze,
    "ant_obstacle_course": AntWalledCourse,
    "ant_obstacle_course_open": AntObstacleCourse,
    "four_rooms": FourRooms,
    "key_door": KeyDoor,
    "moving_bandits": MovingBandits,
    "twowalk": TwoWalk,
    "walk_crawl": WalkCrawl,
    "walk_crawl_course": WalkCrawlCourse,
    "walk_crawl_course_section": WalkCrawlCourseSection,
    "walk_crawl_forward": WalkCrawlForward,
}


class UnknownEnvironmentError(ValueError):
    """No environment is registered or importable under the requested name; `reason` is the
    message without the name, for callers that name it themselves."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"environment {name!r}: {reason}")
        self.reason = reason


def names() -> tuple[str, ...]:
    """Registered environment names, sorted."""
    return tuple(sorted(_REGISTRY))


def _env_class(name: str) -> type[Environment[Any, Any]]:
    if ":" in name:
        return _imported_env_class(name)
    if name not in _REGISTRY:
        raise UnknownEnvironmentError(
            name, f"unknown; available: {', '.join(names())}, or an import path 'module:Class'"
        )
    return _REGISTRY[name]


def _imported_env_class(path: str) -> type[Environment[Any, Any]]:
    """The class at `module:Class`, which must be a dataclass subclassing `Environment`."""
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownEnvironmentError(
            path, f"cannot import module {module_name!r} ({error})"
        ) from None
    env_class = getattr(module, class_name, None)
    if not (isinstance(env_class, type) and issubclass(env_class, Environment)
            and dataclasses.is_dataclass(env_class)):
        raise UnknownEnvironmentError(
            path, f"{module_name} has no dataclass {class_name!r} subclassing envs.Environment"
        )
    return env_class


def options(name: str) -> tuple[str, ...]:
    """The keyword arguments `make(name, ...)` accepts."""
    return tuple(field.name for field in dataclasses.fields(_env_class(name)) if field.init)


def make(name: str, **kwargs: Any) -> Environment[Any, Any]:
    """The environment `name` built with `kwargs`, validated (bad values raise ValueError)."""
    env_class = _env_class(name)
    accepted = options(name)
    unknown = [key for key in kwargs if key not in accepted]
    if unknown:
        raise ValueError(
            f"unknown argument(s) {', '.join(map(repr, unknown))} for environment {name!r}; "
            f"accepted: {', '.join(accepted)}"
        )
    return env_class(**kwargs)
