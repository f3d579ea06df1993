"""Environments by name: `make("four_rooms", slip_probability=0.0)` returns the raw env.

Wrap it with `wrap_for_training` for rollouts. Configs refer to environments by these names.
The Brax tasks (`twowalk`, `ant_maze_small`, `ant_obstacle_course_open` in `envs.ant`;
`ant_maze`, `ant_obstacle_course` in `envs.ant_arenas`; `walk_crawl`,
`walk_crawl_course` in `envs.humanoid_original`; `walk_crawl_forward`,
`walk_crawl_course_section` in `envs.humanoid`) import Brax only when their physics is first
used, so importing this package stays fast.
"""

import dataclasses
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
    """No environment is registered under the requested name."""


def names() -> tuple[str, ...]:
    """Registered environment names, sorted."""
    return tuple(sorted(_REGISTRY))


def _env_class(name: str) -> type[Environment[Any, Any]]:
    if name not in _REGISTRY:
        raise UnknownEnvironmentError(
            f"unknown environment {name!r}; available: {', '.join(names())}"
        )
    return _REGISTRY[name]


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
