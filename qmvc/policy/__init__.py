"""The policy language: text → parse → AST → check → compile → decision tree."""
