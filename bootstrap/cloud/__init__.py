"""Stage 5c, the cloud: hosts launched on EC2 with their rendered files, and terminated.

``client`` wraps boto3 (retries, dry runs, secrets kept out of messages), ``launch`` and
``terminate`` are the two operations. boto3 is imported only when a command runs.
"""
