"""Human-object interaction in MuJoCo after RMD: scenes built in code with named part sites and a simplified
character (``scene``), the stage compiler (``compiler``: goal vector and stage reward), the world (``world``,
contract 2) and the vectorized env (``env``, contract 1). Importing this package imports neither MuJoCo nor torch."""
