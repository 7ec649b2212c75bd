"""What a run says: per target a verdict, its checks with their evidence, facts and metrics."""
