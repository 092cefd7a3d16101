variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "Security group of the load balancer, allowed to reach the ingress."
  type        = string
}

variable "target_group_arn" {
  description = "ALB target group of the ingress service."
  type        = string
}

variable "image" {
  description = "Container image (ECR URI with tag) of orderflow."
  type        = string
}

variable "repository_arn" {
  description = "ECR repository the execution role may pull from."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the log groups and secrets."
  type        = string
}

variable "secret_arns" {
  description = "Secrets injected into the tasks: database (RDS-managed), redis (AUTH token), kafka (SCRAM)."
  type = object({
    database = string
    redis    = string
    kafka    = string
  })
}

variable "kafka_bootstrap_brokers" {
  description = "MSK bootstrap brokers (SASL/SCRAM over TLS)."
  type        = string
}

variable "kafka_cluster_name" {
  description = "MSK cluster name, for the consumer-lag scaling metric."
  type        = string
}

variable "database_endpoint" {
  description = "RDS host:port."
  type        = string
}

variable "redis_endpoint" {
  description = "ElastiCache primary endpoint address."
  type        = string
}

variable "task_cpu" {
  description = "CPU units of an ingress or processor task."
  type        = number
}

variable "task_memory" {
  description = "Memory (MiB) of an ingress or processor task."
  type        = number
}

variable "ingress_min_count" {
  description = "Fewest ingress tasks."
  type        = number
}

variable "ingress_max_count" {
  description = "Most ingress tasks."
  type        = number
}

variable "processor_min_count" {
  description = "Fewest processor tasks."
  type        = number
}

variable "partitions" {
  description = "Partitions of orders.commands: the most processor tasks that do work."
  type        = number
}

variable "processor_lag_target" {
  description = "Consumer lag (records) per processor task that autoscaling aims for."
  type        = number
}
