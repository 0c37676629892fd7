"""Amazon Bedrock through its Converse API: the dialect (:mod:`.dialect`)."""
