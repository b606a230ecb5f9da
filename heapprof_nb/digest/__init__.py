"""From a log to answers: the digest thread (``thread``), the profile it feeds (``profile``) and
the value classes every view reads (``model``)."""
