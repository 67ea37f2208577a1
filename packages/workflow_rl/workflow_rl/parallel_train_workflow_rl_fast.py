"""The design document's ``python workflow_rl/parallel_train_workflow_rl_fast.py``, run from the package folder:
a launcher for the installed ``workflow_rl.parallel_train_workflow_rl_fast`` (fast trainer)."""

from workflow_rl.parallel_train_workflow_rl_fast import main

if __name__ == "__main__":
    main()
