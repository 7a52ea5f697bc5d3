"""``ember robot-sim``: run the PyBullet Panda tabletop as a ROS 2 robot (real time) until SIGTERM or Ctrl-C.

ember robot-sim                                   # seed 0, three scattered cubes, the Panda's topics
ember robot-sim seed=3 task.arrangement=tower state_hz=500
ROS_DOMAIN_ID=42 ember robot-sim                  # discovery follows the usual ROS 2 environment

Then, in another shell with the same ROS environment: ``ember run backend=ros goal="stack green on red"``.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from ember.launch.bounds import check_bounds
from ember.launch.config import register

log = logging.getLogger("ember.robot_sim")
register()


@hydra.main(config_path="conf", config_name="robot_sim", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from ember.robots.config import RobotConfigError
    from ember.robots.robot_sim import RobotSim, serve

    robot = OmegaConf.to_container(cfg.robot, resolve=True)
    task = OmegaConf.to_container(cfg.task, resolve=True)
    assert isinstance(robot, dict) and isinstance(task, dict)
    try:
        check_bounds(cfg)
        sim = RobotSim(
            robot={str(k): v for k, v in robot.items()},
            cubes=task.get("cubes", ("red", "green", "blue")),
            arrangement=task.get("arrangement", "scattered"),
            seed=cfg.seed,
            physics_hz=int(task.get("physics_hz", 240)),
            state_hz=cfg.state_hz,
            pose_hz=cfg.pose_hz,
            camera_hz=cfg.camera_hz,
            render_size=task.get("render_size", (160, 120)),
        )
    except (RobotConfigError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    serve(sim)


if __name__ == "__main__":
    main()
