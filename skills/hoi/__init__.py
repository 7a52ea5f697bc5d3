"""Human-object interaction skills: ``StageSkill`` runs one RMD stage on an ``HOIWorld`` with a pluggable controller;
``ScriptedStageController`` is the scripted baseline (``scripted``)."""
