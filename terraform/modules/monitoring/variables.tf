variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "region" {
  description = "Region of the dashboard's metrics."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the alarm topic."
  type        = string
}

variable "kafka_cluster_name" {
  description = "MSK cluster name."
  type        = string
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the load balancer."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses that receive alarm notifications."
  type        = list(string)
}

variable "lag_alarm_threshold" {
  description = "Consumer lag (records) that raises the lag alarm after 5 minutes."
  type        = number
}

variable "http_5xx_alarm_threshold" {
  description = "5xx responses per minute that raise the alarm after 3 minutes."
  type        = number
}
