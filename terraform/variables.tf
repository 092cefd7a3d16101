variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-central-1"
}

variable "environment" {
  description = "Environment name, part of every resource name (e.g. prod, staging)."
  type        = string
}

variable "availability_zones" {
  description = "Three availability zones of the region (subnets, MSK brokers, RDS and Redis replicas)."
  type        = list(string)
  default     = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener of the load balancer."
  type        = string
}

variable "image_tag" {
  description = "Tag of the orderflow image in ECR to run (the deploy workflow sets the commit SHA)."
  type        = string
}

variable "partitions" {
  description = "Partitions of the orderflow topics: the most processor tasks that share the work."
  type        = number
  default     = 12
}

variable "kafka_version" {
  description = "Apache Kafka version of the MSK cluster."
  type        = string
  default     = "3.7.x"
}

variable "kafka_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "kafka_volume_size_gb" {
  description = "EBS storage per MSK broker, in GiB."
  type        = number
  default     = 500
}

variable "postgres_version" {
  description = "RDS PostgreSQL engine version."
  type        = string
  default     = "15.8"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "db_storage_gb" {
  description = "Initial RDS storage in GiB (autoscaling up to 4x)."
  type        = number
  default     = 100
}

variable "redis_version" {
  description = "ElastiCache Redis engine version."
  type        = string
  default     = "7.1"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.m7g.large"
}

variable "task_cpu" {
  description = "CPU units of an ingress or processor task (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Memory (MiB) of an ingress or processor task."
  type        = number
  default     = 2048
}

variable "ingress_min_count" {
  description = "Fewest ingress tasks."
  type        = number
  default     = 2
}

variable "ingress_max_count" {
  description = "Most ingress tasks."
  type        = number
  default     = 10
}

variable "processor_min_count" {
  description = "Fewest processor tasks."
  type        = number
  default     = 2
}

variable "processor_lag_target" {
  description = "Consumer lag (records) per processor task that autoscaling aims for."
  type        = number
  default     = 5000
}

variable "waf_rate_limit_per_5_minutes" {
  description = "Requests per 5 minutes one IP may make before WAF blocks it."
  type        = number
  default     = 20000
}

variable "alarm_emails" {
  description = "Addresses that receive alarm notifications."
  type        = list(string)
  default     = []
}

variable "lag_alarm_threshold" {
  description = "Consumer lag (records) that raises the lag alarm after 5 minutes."
  type        = number
  default     = 50000
}

variable "http_5xx_alarm_threshold" {
  description = "5xx responses per minute that raise the alarm after 3 minutes."
  type        = number
  default     = 10
}
