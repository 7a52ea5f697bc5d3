"""Install the root folders as the ``ember`` namespace (../shared/DESIGN.md: "Layers").

``[tool.setuptools.packages.find]`` plus a ``package-dir`` mapping installs the folders as top-level modules, so the
mapping is written here: each layer folder becomes ``ember.<layer>``, and nothing named ``launch`` or ``robots``
lands in site-packages (ROS 2 ships a ``launch`` package).
"""

from setuptools import find_packages, setup

LAYERS = ("sims", "robots", "skills", "planners", "launch")

packages = ["ember"]
package_dir = {"ember": "ember"}
for layer in LAYERS:
    packages.append(f"ember.{layer}")
    package_dir[f"ember.{layer}"] = layer
    for sub in find_packages(where=layer):
        packages.append(f"ember.{layer}.{sub}")
        package_dir[f"ember.{layer}.{sub}"] = f"{layer}/{sub.replace('.', '/')}"

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "ember.planners": ["*.json"],
        "ember.planners.llm": ["prompts/*.txt"],
        "ember.skills.tabletop": ["checkpoints/*/*"],
        "ember.skills.overcooked": ["checkpoints/*.pt"],
        "ember.skills.hoi": ["checkpoints/*/*"],
        "ember.launch.conf": ["*.yaml", "*/*.yaml"],
    },
    include_package_data=True,
)
