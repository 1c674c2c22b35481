"""Pages of service contracts and warranties."""
