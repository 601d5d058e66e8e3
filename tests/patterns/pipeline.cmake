# SPDX-License-Identifier: MIT
# Pipeline: the primitive's contract over every kind (unit), random pipelines ended by drain,
# cancel or a stage error (stress), and the "pipeline" and "worker_pool" workloads through the
# pattern registry (unit).
patlab_test(test_pipeline unit 300 patterns/pipeline/test_pipeline.c)
patlab_test(stress_pipeline stress 600 patterns/pipeline/stress_pipeline.c)
patlab_test(test_pipeline_workloads unit 300 patterns/pipeline/test_pipeline_workloads.c)
# The same against futex waits that return early at random: every wait loop must re-check.
patlab_test(test_pipeline_spurious unit 300 patterns/pipeline/test_pipeline.c LIB patlab_spurious)
