"""Social Hub: plugs an LMS into the social networks its learners already use."""
