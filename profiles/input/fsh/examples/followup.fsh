// Follow-up of the same episode: a weekly questionnaire with a grade 3 diarrhoea, its alert, the nurse's task,
// the message to the patient, and the forfaits of sequence 1.

Instance: pro-jeanne-martin-2025-11-17
InstanceOf: OncoLinkWeeklyPRO
Title: "Questionnaire du 17 novembre 2025"
Usage: #example
* extension[alertColour].valueCoding = $colour-cs#red "Rouge"
* questionnaire = "https://oncolink.example.org/fhir/Questionnaire/oncolink-pro-hebdo|1.0.0"
* status = #completed
* subject = Reference(patient-jeanne-martin)
* basedOn = Reference(episode-jeanne-martin)
* authored = "2025-11-17T09:30:00+01:00"
* item[0].linkId = "diarrhee"
* item[=].answer.valueCoding = $grade-cs#3 "Sévère"
* item[+].linkId = "nausees-vomissements"
* item[=].answer.valueCoding = $grade-cs#1 "Léger"
* item[+].linkId = "mucite"
* item[=].answer.valueCoding = $grade-cs#0 "Absent"
* item[+].linkId = "main-pied"
* item[=].answer.valueCoding = $grade-cs#1 "Léger"
* item[+].linkId = "eruption"
* item[=].answer.valueCoding = $grade-cs#0 "Absent"
* item[+].linkId = "fatigue"
* item[=].answer.valueCoding = $grade-cs#2 "Modéré"
* item[+].linkId = "fievre"
* item[=].answer.valueCoding = $grade-cs#0 "Absent"
* item[+].linkId = "temperature"
* item[=].answer.valueDecimal = 37.2
* item[+].linkId = "douleur"
* item[=].answer.valueCoding = $grade-cs#0 "Absent"
* item[+].linkId = "dyspnee"
* item[=].answer.valueCoding = $grade-cs#0 "Absent"
* item[+].linkId = "saignement"
* item[=].answer.valueCoding = $grade-cs#0 "Absent"
* item[+].linkId = "oublis"
* item[=].answer.valueCoding = $missed-cs#1 "Une prise oubliée"

Instance: flag-jeanne-martin-diarrhee
InstanceOf: OncoLinkAlertFlag
Title: "Alerte rouge : diarrhée"
Usage: #example
* extension[colour].valueCoding = $colour-cs#red "Rouge"
* extension[detail].valueReference = Reference(pro-jeanne-martin-2025-11-17)
* status = #active
* code = $alert-type-cs#diarrhoea "Diarrhée"
* subject = Reference(patient-jeanne-martin)
* period.start = "2025-11-17T09:30:05+01:00"

Instance: task-jeanne-martin-diarrhee
InstanceOf: OncoLinkAlertTask
Title: "Rappeler Jeanne Martin (diarrhée)"
Usage: #example
* extension[colour].valueCoding = $colour-cs#red "Rouge"
* status = #completed
* intent = #order
* priority = #urgent
* code = $task-type-cs#alert-handling "Traiter une alerte"
* focus = Reference(flag-jeanne-martin-diarrhee)
* for = Reference(patient-jeanne-martin)
* authoredOn = "2025-11-17T09:30:05+01:00"
* note.text = "Patiente rappelée : lopéramide débuté, capécitabine suspendue 48 h en accord avec l'oncologue."

Instance: message-jeanne-martin-diarrhee
InstanceOf: OncoLinkMessage
Title: "Conseils après une alerte de diarrhée"
Usage: #example
* status = #completed
* category = $message-cat-cs#patient-alert-message "Conseil au patient après alerte"
* subject = Reference(patient-jeanne-martin)
* recipient = Reference(patient-jeanne-martin)
* reasonCode = $alert-type-cs#diarrhoea "Diarrhée"
* about = Reference(flag-jeanne-martin-diarrhee)
* sent = "2025-11-17T09:31:00+01:00"
* payload.contentString = "Bonjour, vous avez signalé une diarrhée importante. Buvez au moins deux litres par jour et ne prenez pas votre prochaine prise avant l'appel de l'infirmière de coordination, qui vous contactera aujourd'hui."

Instance: forfait-jeanne-martin-s1-officine
InstanceOf: OncoLinkForfaitChargeItem
Title: "Part officine du forfait de séquence 1 (parcours A)"
Usage: #example
* extension[parcours].valueCoding = $parcours-cs#A "Parcours A"
* extension[sequence].valueCoding = $sequence-cs#1 "Séquence 1 — initiation"
* identifier.system = $forfait-sid
* identifier.value = "episode-jeanne-martin/1/0/community-pharmacist"
* status = #billable
* code = $forfait-cs#sequence "Forfait de séquence"
* subject = Reference(patient-jeanne-martin)
* occurrencePeriod.start = "2025-11-03"
* occurrencePeriod.end = "2025-12-02"
* performer.function = $share-cs#community-pharmacist "Pharmacien d'officine"
* performer.actor = Reference(org-pharmacie-lilas)
* enteredDate = "2025-11-03T10:00:00+01:00"
* priceOverride.value = 80.00
* priceOverride.currency = #EUR
* supportingInformation = Reference(sequence-jeanne-martin-1)

Instance: forfait-jeanne-martin-tsm-2025-11
InstanceOf: OncoLinkForfaitChargeItem
Title: "Forfait de télésurveillance de novembre 2025"
Usage: #example
* identifier.system = $forfait-sid
* identifier.value = "episode-jeanne-martin/telesurveillance/2025-11"
* status = #billable
* code = $forfait-cs#telemonitoring "Forfait de télésurveillance"
* subject = Reference(patient-jeanne-martin)
* occurrencePeriod.start = "2025-11-01"
* occurrencePeriod.end = "2025-11-30"
* performer.function = $share-cs#telemonitoring-operator "Opérateur de télésurveillance"
* performer.actor = Reference(org-oncologie-lyon)
* enteredDate = "2025-12-01T08:00:00+01:00"
* priceOverride.value = 28.00
* priceOverride.currency = #EUR
* supportingInformation = Reference(episode-jeanne-martin)
