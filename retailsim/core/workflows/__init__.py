"""Process managers written as explicit transition tables (state × event → new state + commands)."""
