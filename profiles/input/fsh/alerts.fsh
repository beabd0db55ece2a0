Profile: OncoLinkAlertFlag
Parent: Flag
Id: oncolink-alert-flag
Title: "Signalement d'alerte"
Description: "Alerte affichée sur la liste de travail infirmière : type d'alerte, couleur, patient et élément déclencheur (réponse au questionnaire, interaction…)."
* ^status = #active
* extension contains
    OncoLinkAlertColourExt named colour 1..1 and
    $flag-detail named detail 0..*
* code from OncoLinkAlertTypeVS (required)
* subject only Reference(OncoLinkPatient)
* period 1..1
* period.start 1..1

Profile: OncoLinkAlertTask
Parent: Task
Id: oncolink-task
Title: "Tâche infirmière"
Description: "Tâche de la liste de travail : traiter une alerte ou proposer une inclusion. Une tâche terminée indique la conduite tenue."
* ^status = #active
* obeys oncolink-task-1 and oncolink-task-2
* extension contains OncoLinkAlertColourExt named colour 0..1
* intent = #order
* code 1..1
* code from OncoLinkTaskTypeVS (required)
* focus only Reference(Flag or QuestionnaireResponse or MedicationRequest or DetectedIssue)
* for 1..1
* for only Reference(OncoLinkPatient)
* authoredOn 1..1
* owner only Reference(Practitioner or PractitionerRole or Organization or CareTeam)

Invariant: oncolink-task-1
Description: "Une tâche de traitement d'alerte désigne le signalement ou la réponse qui l'a déclenchée (focus)."
Severity: #error
Expression: "code.coding.code contains 'alert-handling' implies focus.exists()"

Invariant: oncolink-task-2
Description: "Une tâche terminée indique la conduite tenue (output ou note)."
Severity: #error
Expression: "status = 'completed' implies (output.exists() or note.exists())"

Profile: OncoLinkMessage
Parent: Communication
Id: oncolink-message
Title: "Message Onco'Link"
Description: "Message au patient après une alerte (modèle propre au type d'alerte et à l'établissement) ou message de coordination ville-hôpital."
* ^status = #active
* category 1..1
* category from OncoLinkMessageCategoryVS (required)
* subject 1..1
* subject only Reference(OncoLinkPatient)
* recipient 1..*
* reasonCode from OncoLinkAlertTypeVS (required)
* about only Reference(Flag or CarePlan or QuestionnaireResponse)
* payload 1..*
* payload.content[x] only string or Attachment
* payload.contentString ^maxLength = 2000
