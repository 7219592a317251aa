variable "name" {
  description = "Name prefix for every resource (lower-case letters, digits and dashes)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 characters of lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "VPC for the Fargate tasks."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets for the Fargate tasks (they reach AWS APIs through NAT or VPC endpoints)."
  type        = list(string)
}

variable "image" {
  description = "floe container image (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/floe:0.1.0)."
  type        = string
}

variable "stream_mode" {
  description = "Kinesis capacity mode: ON_DEMAND or PROVISIONED."
  type        = string
  default     = "ON_DEMAND"
  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "shard_count" {
  description = "Shards when stream_mode is PROVISIONED (ignored for ON_DEMAND)."
  type        = number
  default     = 2
}

variable "stream_retention_hours" {
  description = "How long Kinesis keeps records (24-8760). Must exceed the longest outage floe should survive."
  type        = number
  default     = 168
}

variable "bronze_transition_days" {
  description = "Days after which bronze objects move to STANDARD_IA."
  type        = number
  default     = 30
}

variable "bronze_glacier_days" {
  description = "Days after which bronze objects move to GLACIER_IR (must exceed bronze_transition_days)."
  type        = number
  default     = 180
}

variable "bronze_expiration_days" {
  description = "Days after which bronze objects are deleted (0 = keep forever)."
  type        = number
  default     = 0
}

variable "log_retention_days" {
  description = "CloudWatch log retention."
  type        = number
  default     = 365
}

variable "task_cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Fargate task memory (MiB)."
  type        = number
  default     = 2048
}

variable "ephemeral_storage_gib" {
  description = "Fargate ephemeral storage (GiB, 21-200). Silver's dedup state spills its ids past silver.dedup_memory here, 20 bytes an id of silver.dedup_lookback: ~1.3 GiB for a 1 h window at 1.5 B events/day, ~30 GiB for 24 h (ADR 0017)."
  type        = number
  default     = 21
  validation {
    condition     = var.ephemeral_storage_gib >= 21 && var.ephemeral_storage_gib <= 200
    error_message = "Fargate ephemeral storage is 21 to 200 GiB."
  }
}

variable "desired_count" {
  description = "floe workers at start (they share the shards through DynamoDB leases)."
  type        = number
  default     = 2
}

variable "min_count" {
  description = "Autoscaling minimum workers."
  type        = number
  default     = 1
}

variable "max_count" {
  description = "Autoscaling maximum workers (more than the shard count adds no throughput)."
  type        = number
  default     = 8
}

variable "target_lag_ms" {
  description = "Autoscaling target for the stream's maximum iterator age (how far behind the workers are)."
  type        = number
  default     = 60000
}

variable "drain_seconds" {
  description = "floe's drain deadline on SIGTERM; the ECS stopTimeout is set 5 s above it (max 120)."
  type        = number
  default     = 25
  validation {
    condition     = var.drain_seconds >= 5 && var.drain_seconds <= 115
    error_message = "drain_seconds must be 5-115 so that stopTimeout stays within Fargate's 120 s."
  }
}

variable "consumer" {
  description = "How floe reads the stream: \"polling\" (GetRecords, shares each shard's 2 MB/s with other consumers) or \"efo\" (enhanced fan-out: a registered consumer with its own 2 MB/s per shard, billed per consumer-shard hour and per GB)."
  type        = string
  default     = "polling"
  validation {
    condition     = contains(["polling", "efo"], var.consumer)
    error_message = "consumer must be \"polling\" or \"efo\"."
  }
}

variable "metrics_port" {
  description = "Port of floe's /metrics, /healthz and /readyz."
  type        = number
  default     = 9090
}

variable "extra_environment" {
  description = "More FLOE_* settings for the container (see examples/floe.aws.toml)."
  type        = map(string)
  default     = {}
}
