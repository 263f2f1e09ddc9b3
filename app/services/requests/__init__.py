"""Transactional-pool and dedicated-IP requests: filing, deciding, allocating IPs, listing."""
