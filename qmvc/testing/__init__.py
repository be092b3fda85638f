"""Policy test cases (`qmvc test`): loading them, running them through the evaluator."""
