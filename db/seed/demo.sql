-- ccdialer demo and test seed for a call_center database at schema version 2.
-- Load with:  CCD_DB_PASSWORD=... ccdialer-db --socket S --user U --database call_center seed db/seed/demo.sql
-- Idempotent (INSERT IGNORE with fixed ids): loading it twice changes nothing.
--
-- Numbers follow the simulator's dialplan (context "customers"):
--   5XXX answers after RING s and talks TALK s, 6XXX never answers, 7XXX is busy,
--   3XXX congestion, 2XXX unallocated, 4XXX answers and stays up.
-- Agents: static Agent/9000..9004 (app_agent_pool, queue 8000) and one dynamic agent of each
-- other type (SIP, PJSIP, IAX2) that joins queue 8001 on login (ccd_agent_queue).

SET NAMES utf8mb4;

-- ---------------------------------------------------------------- agents
INSERT IGNORE INTO agent (id, type, number, name, password, estatus, eccp_password) VALUES
  (1, 'Agent', '9000', 'Agent 9000', '9000', 'A', 'eccp9000'),
  (2, 'Agent', '9001', 'Agent 9001', '9001', 'A', 'eccp9001'),
  (3, 'Agent', '9002', 'Agent 9002', '9002', 'A', 'eccp9002'),
  (4, 'Agent', '9003', 'Agent 9003', '9003', 'A', 'eccp9003'),
  (5, 'Agent', '9004', 'Agent 9004', '9004', 'A', 'eccp9004'),
  (6, 'SIP',   '1001', 'SIP agent 1001',   '1001', 'A', 'eccp1001'),
  (7, 'PJSIP', '1002', 'PJSIP agent 1002', '1002', 'A', 'eccp1002'),
  (8, 'IAX2',  '1003', 'IAX2 agent 1003',  '1003', 'A', 'eccp1003'),
  (9, 'Agent', '9009', 'Retired agent 9009', '9009', 'I', NULL);

INSERT IGNORE INTO ccd_agent_queue (id_agent, queue, penalty) VALUES
  (6, '8001', 0), (7, '8001', 1), (8, '8001', 2), (6, '8000', 5);

-- ---------------------------------------------------------------- breaks
-- id 1 'Hold' (tipo H) is created by the schema itself.
INSERT IGNORE INTO `break` (id, name, description, status, tipo) VALUES
  (2, 'Lunch', 'Lunch break', 'A', 'B'),
  (3, 'Bathroom', 'Bathroom break', 'A', 'B'),
  (4, 'Training', 'Training session', 'A', 'B'),
  (5, 'Old break', 'No longer offered', 'I', 'B');

-- ---------------------------------------------------------------- forms
INSERT IGNORE INTO form (id, nombre, descripcion, estatus) VALUES
  (1, 'Survey', 'Customer satisfaction survey', 'A'),
  (2, 'Sales', 'Product interest', 'A');
INSERT IGNORE INTO form_field (id, id_form, etiqueta, value, tipo, orden) VALUES
  (1, 1, 'Customer name', '', 'TEXT', 1),
  (2, 1, 'Satisfaction', 'Very good,Good,Average,Bad,', 'LIST', 2),
  (3, 1, 'Call back on', '', 'DATE', 3),
  (4, 1, 'Comments', '', 'TEXTAREA', 4),
  (5, 2, 'Read the offer aloud', '', 'LABEL', 1),
  (6, 2, 'Interested', 'Yes,No,Maybe,', 'LIST', 2);

-- ---------------------------------------------------------------- outgoing campaign
INSERT IGNORE INTO campaign_external_url (id, urltemplate, description, active, opentype) VALUES
  (1, 'http://crm.example/lookup?phone={phone}', 'CRM lookup', 1, 'window');

INSERT IGNORE INTO campaign (id, name, datetime_init, datetime_end, daytime_init, daytime_end,
    retries, trunk, context, queue, max_canales, script, estatus, id_url, callerid) VALUES
  (1, 'Demo outbound', CURDATE() - INTERVAL 1 DAY, CURDATE() + INTERVAL 365 DAY,
   '00:00:00', '23:59:59', 3, 'Local/$OUTNUM$@customers', 'dialer-queue', '8000', 0,
   'Hello, this is the ccdialer demo.', 'A', 1, '5550100'),
  (2, 'Finished campaign', CURDATE() - INTERVAL 30 DAY, CURDATE() - INTERVAL 1 DAY,
   '09:00:00', '18:00:00', 1, NULL, 'dialer-queue', '8000', 0, '', 'A', NULL, NULL);

INSERT IGNORE INTO campaign_form (id_campaign, id_form) VALUES (1, 1), (1, 2);

INSERT IGNORE INTO ccd_campaign_pacing (id_campaign, mode, abandon_rate_max, max_channels,
    retry_backoff_s, retry_backoff_max_s) VALUES
  (1, 'predictive', 0.0300, 20, 60, 3600);

INSERT IGNORE INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, status,
    total_calls, pending_calls) VALUES
  (1, 1, 0, 'Demo list', 'demo.csv', NOW(), 1, 44, 44),
  (2, 2, 0, 'Old list', 'old.csv', NOW() - INTERVAL 30 DAY, 3, 1, 0);

-- 30 answering numbers, 5 no-answer, 5 busy, 2 congestion, 1 unallocated.
INSERT IGNORE INTO calls (id, id_list, phone) SELECT seq, 1, CONCAT('5', LPAD(seq, 3, '0'))
  FROM seq_1_to_30;
INSERT IGNORE INTO calls (id, id_list, phone) SELECT 30 + seq, 1, CONCAT('6', LPAD(seq, 3, '0'))
  FROM seq_1_to_5;
INSERT IGNORE INTO calls (id, id_list, phone) SELECT 35 + seq, 1, CONCAT('7', LPAD(seq, 3, '0'))
  FROM seq_1_to_5;
INSERT IGNORE INTO calls (id, id_list, phone) VALUES (41, 1, '3001'), (42, 1, '3002'),
  (43, 1, '2001');
-- A scheduled call with its own window (today, all day), dialed before the plain ones.
INSERT IGNORE INTO calls (id, id_list, phone, date_init, date_end, time_init, time_end)
  VALUES (44, 1, '5100', CURDATE(), CURDATE() + INTERVAL 7 DAY, '00:00:00', '23:59:59');
-- A call of the finished campaign.
INSERT IGNORE INTO calls (id, id_list, phone, status, retries) VALUES (45, 2, '5200', 'Success', 1);

INSERT IGNORE INTO call_attribute (id, id_call, data) VALUES
  (1, 1, '{"Name":"Ada Lovelace","Plan":"Gold"}');

-- 7005 asked not to be called: the claim marks it dnc=1 instead of dialing it.
INSERT IGNORE INTO dont_call (id, caller_id, date_income, status) VALUES (1, '7005', NOW(), 'A');

-- ---------------------------------------------------------------- incoming
INSERT IGNORE INTO queue_call_entry (id, queue, date_init, time_init, date_end, time_end, estatus,
    script) VALUES
  (1, '8000', CURDATE() - INTERVAL 1 DAY, '00:00:00', CURDATE() + INTERVAL 365 DAY, '23:59:59',
   'A', 'Incoming queue 8000');
INSERT IGNORE INTO campaign_entry (id, name, id_queue_call_entry, id_form, datetime_init,
    datetime_end, daytime_init, daytime_end, estatus, script, id_url) VALUES
  (1, 'Demo inbound', 1, 1, CURDATE() - INTERVAL 1 DAY, CURDATE() + INTERVAL 365 DAY,
   '00:00:00', '23:59:59', 'A', 'Thank you for calling.', NULL);
INSERT IGNORE INTO campaign_form_entry (id_campaign, id_form) VALUES (1, 1);
INSERT IGNORE INTO contact (id, cedula_ruc, name, telefono, apellido, origen) VALUES
  (1, '0912345678', 'Grace', '5300', 'Hopper', 'crm');

-- ---------------------------------------------------------------- ECCP
-- Issabel's default console client: agentconsole / agentconsole (md5 stored).
INSERT IGNORE INTO eccp_authorized_clients (id, username, md5_password) VALUES
  (1, 'agentconsole', MD5('agentconsole'));

INSERT IGNORE INTO valor_config (config_key, config_value, config_blob) VALUES
  ('dialer.llamada_corta', '10', NULL),
  ('dialer.tiempo_contestar', '8', NULL);
