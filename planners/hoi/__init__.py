"""Human-object interaction planned as relative-movement stages (after RMD, arXiv 2503.18349).

- ``stages``: the stage-plan format (root target, object target, links between human and object parts labelled
  contact / approaching / separating / no_trend), JSON (de)serialization and UniHSI chain-of-contacts input; it
  re-exports ``scene`` (part vocabularies, :class:`SceneInfo`), ``schema`` (the JSON Schema and its strict subset)
  and ``validate`` (``validate_stages``: every problem with its JSON path and a hint).
- ``template``: :class:`TemplatePlanner`, offline stages for reach, push, open, sit and carry instructions.
- ``llm``: :class:`HOILLMPlanner`, stages from an LLM/VLM over any OpenAI-compatible endpoint, validated and repaired,
  with the template planner as its fallback.

Importing this package imports neither a simulator nor the ``openai`` client.
"""
